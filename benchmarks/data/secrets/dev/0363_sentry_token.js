module.exports = {
  port: "8080",
  bucket: "assets-prod-7421",
  sentryauthtoken: "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",
  appenv: "production",
};
