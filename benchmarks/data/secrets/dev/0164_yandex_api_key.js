module.exports = {
  buildid: "20240611.3",
  commitsha: "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e",
  ycapikey: "AQVNRUPLTx0yF6mwNWatzQkv12hrC0Ek61eQOfyQ",
  bucket: "assets-prod-7421",
  workers: "4",
};
