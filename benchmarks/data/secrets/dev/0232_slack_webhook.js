module.exports = {
  bucket: "assets-prod-7421",
  webhook: "https://hooks.slack.com/services/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",
  locale: "en_US",
  commitsha: "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e",
  region: "eu-west-1",
  loglevel: "info",
  sentryenvironment: "prod",
};
