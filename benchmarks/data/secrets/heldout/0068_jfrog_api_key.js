module.exports = {
  bucket: "assets-prod-7421",
  loglevel: "info",
  maxuploadmb: "25",
  artifactoryapikey: "AKCpz9XgSvY5FkbIrsgObfElu52XihLDtNMBWPPthhpajaKyPAO8gi9DpJ3jFzBJiROXVuIGQ",
  appenv: "production",
  sentryenvironment: "prod",
};
