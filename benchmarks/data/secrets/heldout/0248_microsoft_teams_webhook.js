module.exports = {
  sentryenvironment: "prod",
  host: "0.0.0.0",
  featureflags: "search,export",
  teamswebhookurl: "https://fgvvuvfn.webhook.office.com/webhookb2/4ee4b311-4bc2-aab2-184f-8824a47ed278@fc707dda-1300-8c3b-6d2f-4613bb3f9a0e/IncomingWebhook/050118751d19a60cc31db06be04cfc3a/06391e40-e25c-f97a-5c94-7a2f93cd777e",
};
