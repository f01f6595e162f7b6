module.exports = {
  loglevel: "info",
  host: "0.0.0.0",
  contentfulmanagementtoken: "CFPAT-Ao_g-6YOzLhrSLbuli6YDZsC2Wh5aIWYPLhGB7MQJLe",
  locale: "en_US",
};
