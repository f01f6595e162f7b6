module.exports = {
  sentryauthtoken: "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",
  bucket: "assets-prod-7421",
  workers: "4",
  host: "0.0.0.0",
  appenv: "production",
  sentryenvironment: "prod",
  port: "8080",
};
