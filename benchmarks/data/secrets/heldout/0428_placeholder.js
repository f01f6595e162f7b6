module.exports = {
  retries: "3",
  appenv: "production",
  loglevel: "info",
  password: "********",
};
