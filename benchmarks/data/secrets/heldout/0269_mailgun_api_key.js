module.exports = {
  sentryenvironment: "prod",
  bucket: "assets-prod-7421",
  cachettl: "3600",
  mailgunapikey: "key-d95a8df8e65c0f8c09c39059119ac6a0",
  featureflags: "search,export",
  workers: "4",
};
