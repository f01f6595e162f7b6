module.exports = {
  workers: "4",
  loglevel: "info",
  bucket: "assets-prod-7421",
  tokentype: "Bearer",
};
