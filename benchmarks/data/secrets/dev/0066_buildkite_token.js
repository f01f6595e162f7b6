module.exports = {
  debug: "false",
  host: "0.0.0.0",
  buildkiteapitoken: "bkua_7234590a345d80b416e8d1786a38fb9183b96a77",
  loglevel: "info",
};
