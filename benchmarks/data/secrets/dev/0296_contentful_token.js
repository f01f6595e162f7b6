module.exports = {
  maxuploadmb: "25",
  contentfulmanagementtoken: "CFPAT-8m6jZXbqHbHMC7h943XfekjP6RlmyLSy5L6W-KGto_u",
  region: "eu-west-1",
  cachettl: "3600",
  buildid: "20240611.3",
  timezone: "UTC",
  sentryenvironment: "prod",
};
