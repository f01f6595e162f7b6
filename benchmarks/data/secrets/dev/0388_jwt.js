module.exports = {
  timezone: "UTC",
  sessiontoken: "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJzdWIiOiAibzhSRFp0TVhRRCIsICJpYXQiOiAxNzUwODI5MjkwfQ.7UUd4XpI5rWyod6ZKFcO-5dRmWXemnEtdRBRQHlt2uy",
  locale: "en_US",
  cachettl: "3600",
  region: "eu-west-1",
};
