module.exports = {
  commitsha: "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e",
  timezone: "UTC",
  host: "0.0.0.0",
  secretname: "prod/app/database",
};
