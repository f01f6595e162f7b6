module.exports = {
  region: "eu-west-1",
  loglevel: "info",
  retries: "3",
  openaiapikey: "your-api-key",
};
