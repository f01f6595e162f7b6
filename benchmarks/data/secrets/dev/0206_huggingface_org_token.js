module.exports = {
  loglevel: "info",
  retries: "3",
  hforgtoken: "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",
  region: "eu-west-1",
  featureflags: "search,export",
};
