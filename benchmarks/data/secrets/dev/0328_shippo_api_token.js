module.exports = {
  maxuploadmb: "25",
  retries: "3",
  commitsha: "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e",
  shippotoken: "shippo_live_8c0ae9f293f1635518142e7bcc4f72dfc7b95d7c",
  buildid: "20240611.3",
};
