module.exports = {
  retries: "3",
  bucket: "assets-prod-7421",
  region: "eu-west-1",
  timezone: "UTC",
  featureflags: "search,export",
  grafanaserviceaccounttoken: "glsa_aAUQJdXplq0rTHRR7UfoA9eqNJYsDbTv_716be4a8",
};
