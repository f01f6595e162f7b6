module.exports = {
  appenv: "production",
  gitlabtoken: "gldt-w3yVp4Q_bP30PljfwAY4",
  buildid: "20240611.3",
  sentryenvironment: "prod",
  featureflags: "search,export",
  workers: "4",
  region: "eu-west-1",
};
