module.exports = {
  commitsha: "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e",
  loglevel: "info",
  cachettl: "3600",
  grafanaserviceaccounttoken: "glsa_NC17h9VV7FFXHHYvkDmu8dGDFO0oFuoS_1e3f3168",
};
