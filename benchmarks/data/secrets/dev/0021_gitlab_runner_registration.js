module.exports = {
  registrationtoken: "GR1348941_g8briFFGUsAlARI2cyc",
  debug: "false",
  sentryenvironment: "prod",
  featureflags: "search,export",
  loglevel: "info",
  locale: "en_US",
};
