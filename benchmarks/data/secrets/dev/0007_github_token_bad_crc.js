module.exports = {
  retries: "3",
  loglevel: "info",
  debug: "false",
  buildid: "20240611.3",
  ghtoken: "ghp_WnSrWl85o2nItTYva1pFAmMsVKPOoc3r9WHa",
  bucket: "assets-prod-7421",
};
