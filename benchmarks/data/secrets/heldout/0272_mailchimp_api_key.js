module.exports = {
  locale: "en_US",
  region: "eu-west-1",
  featureflags: "search,export",
  mailchimpapikey: "5e77f5ca92f1848ac60c3ef39b3cb9f5-us5",
};
