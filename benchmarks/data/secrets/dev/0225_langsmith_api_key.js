module.exports = {
  loglevel: "info",
  locale: "en_US",
  sentryenvironment: "prod",
  workers: "4",
  commitsha: "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e",
  region: "eu-west-1",
  langchainapikey: "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",
};
