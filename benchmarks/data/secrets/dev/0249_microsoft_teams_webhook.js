module.exports = {
  maxuploadmb: "25",
  region: "eu-west-1",
  teamswebhookurl: "https://zjurxydd.webhook.office.com/webhookb2/92687a96-3efb-4d3c-d317-ea9cf0017ba7@4ef08109-42dd-ac67-828d-545588ac953a/IncomingWebhook/e64ef7921aa705fae7b2939340f5fe75/75c047ec-bf2a-36e3-0e04-f624d05dbba1",
  retries: "3",
};
