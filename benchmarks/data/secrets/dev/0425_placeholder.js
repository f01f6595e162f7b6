module.exports = {
  workers: "4",
  timezone: "UTC",
  loglevel: "info",
  apikey: "<your-api-key>",
};
