module.exports = {
  locale: "en_US",
  bucket: "assets-prod-7421",
  timezone: "UTC",
  sentryenvironment: "prod",
  tfetoken: "dUdiFfmRui1pHt.atlasv1.Q1LSwM2bSAOMKqPv1yJ05m34yR69xNqjShFMVEAprFU14C3zPyHDRe_xoQkRRSSeZDb",
  debug: "false",
};
