module.exports = {
  cachettl: "3600",
  sentryenvironment: "prod",
  debug: "false",
  timezone: "UTC",
  hubspotaccesstoken: "pat-na1-21d5d2e7-3368-78a0-46ec-cb83f588e154",
};
