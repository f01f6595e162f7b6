module.exports = {
  buildid: "20240611.3",
  sentryenvironment: "prod",
  featureflags: "search,export",
  maxuploadmb: "25",
  debug: "false",
  loglevel: "info",
  slackbottoken: "xoxp-318719884991-738420150774-LerGkpk4H23uiiicvu7Jh0tX",
};
