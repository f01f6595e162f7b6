module.exports = {
  cachettl: "3600",
  telnyxapikey: "KEYCF0A8839AAA86DF265CA4674203EF50E_Qfy7vkxs9H0rAQIOdjPsE0",
  loglevel: "info",
  debug: "false",
  port: "8080",
};
