module.exports = {
  bucket: "assets-prod-7421",
  appenv: "production",
  locale: "en_US",
  sentryenvironment: "prod",
  cachettl: "3600",
  typeformtoken: "tfp_OaJbMVgSZa-e3JROnKMUKPDv-2zotq4DLckgxXUMrhBLiOb3_--ESojHyIJ",
  buildid: "20240611.3",
};
