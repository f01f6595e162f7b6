module.exports = {
  timezone: "UTC",
  bucket: "assets-prod-7421",
  buildid: "20240611.3",
  cachettl: "3600",
  twilioapikey: "SKee4a9434497dc5d5f12dd3916115ca7f",
  commitsha: "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e",
  sentryenvironment: "prod",
};
