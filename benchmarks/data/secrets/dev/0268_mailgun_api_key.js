module.exports = {
  buildid: "20240611.3",
  mailgunapikey: "key-7211a616df120944b23ab2267d4190e2",
  appenv: "production",
  debug: "false",
  retries: "3",
  sentryenvironment: "prod",
};
