module.exports = {
  timezone: "UTC",
  region: "eu-west-1",
  maxuploadmb: "25",
  featureflags: "search,export",
  loglevel: "info",
  circlecitoken: "CCIPAT_zx3KYo8ek9LCgMrPwIHR8j_00b96194425d84265d6cf52f762476482b2b85fd",
  debug: "false",
};
