module.exports = {
  sentryenvironment: "prod",
  cachettl: "3600",
  herokuapikey: "282d622b-2ccd-6af1-a499-04158ac8c76a",
  appenv: "production",
  retries: "3",
  host: "0.0.0.0",
};
