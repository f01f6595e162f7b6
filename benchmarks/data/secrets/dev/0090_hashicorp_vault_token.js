module.exports = {
  retries: "3",
  commitsha: "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e",
  appenv: "production",
  vaulttoken: "hvs._9i2cFEpw_eCZqYTlX3NgxbIvyT0_Nh2tuzt0hAa6ubLoBw1a2f1oOCamJbmKaUe3plUe-AQ_IAn4iZRrnRXpzls591W6ah",
  cachettl: "3600",
  host: "0.0.0.0",
};
