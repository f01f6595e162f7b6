module.exports = {
  retries: "3",
  featureflags: "search,export",
  locale: "en_US",
  sentryenvironment: "prod",
  cachettl: "3600",
  npmtoken: "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",
  timezone: "UTC",
};
