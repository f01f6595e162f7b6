module.exports = {
  sentryenvironment: "prod",
  openaikey: "sk-proj-a4G3uy5t2BBT18ONnjJ2T3BlbkFJLGfhVamXWXedT9uXCaBC",
  debug: "false",
  maxuploadmb: "25",
  buildid: "20240611.3",
  locale: "en_US",
  retries: "3",
};
