module.exports = {
  port: "8080",
  commitsha: "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e",
  circlecitoken: "CCIPAT_He7Pb9LH18DhCsvFyvuG48_446bb33cf4a67e934d364588a5ea32c016ad7ad3",
  featureflags: "search,export",
  timezone: "UTC",
};
