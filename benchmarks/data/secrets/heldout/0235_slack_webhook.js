module.exports = {
  webhook: "https://hooks.slack.com/services/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",
  cachettl: "3600",
  debug: "false",
  region: "eu-west-1",
  featureflags: "search,export",
};
