module.exports = {
  timezone: "UTC",
  workers: "4",
  sentryenvironment: "prod",
  password: "<password>",
};
