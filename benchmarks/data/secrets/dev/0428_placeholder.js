module.exports = {
  loglevel: "info",
  region: "eu-west-1",
  cachettl: "3600",
  password: "********",
};
