module.exports = {
  port: "8080",
  maxuploadmb: "25",
  debug: "false",
  tokentype: "Bearer",
};
