module.exports = {
  discordbottoken: "M1Q5D3mxxiH0liR0U4SVX8R4.UlwyZs.I4C7nJzjha75d5A2ljHEb2ie4sq",
  featureflags: "search,export",
  appenv: "production",
  region: "eu-west-1",
  port: "8080",
  locale: "en_US",
};
