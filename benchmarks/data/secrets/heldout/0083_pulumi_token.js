module.exports = {
  region: "eu-west-1",
  debug: "false",
  pulumiaccesstoken: "pul-98b4f13cea0e74a46f59b761e8eefbdd27b1a3cf",
  loglevel: "info",
  host: "0.0.0.0",
};
