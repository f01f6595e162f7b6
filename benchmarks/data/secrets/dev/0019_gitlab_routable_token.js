module.exports = {
  region: "eu-west-1",
  sentryenvironment: "prod",
  port: "8080",
  runnertoken: "glrt-t3_H4mS-GbDt8yBIKyAuFOAildSkYN.01.rtloalqr9",
  workers: "4",
  locale: "en_US",
};
