module.exports = {
  featureflags: "search,export",
  workers: "4",
  locale: "en_US",
  awsaccesskeyid: "AKIAIOSFODNN7EXAMPLE",
};
