module.exports = {
  host: "0.0.0.0",
  hubspotaccesstoken: "pat-na1-9e66b9ce-007c-0515-942d-dc52f741bf2c",
  loglevel: "info",
};
