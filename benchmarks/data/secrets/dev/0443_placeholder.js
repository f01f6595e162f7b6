module.exports = {
  maxuploadmb: "25",
  sentryenvironment: "prod",
  debug: "false",
  hftoken: "hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
};
