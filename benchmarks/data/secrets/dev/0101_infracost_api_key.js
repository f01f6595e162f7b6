module.exports = {
  infracostapikey: "ico-HstNcSlT8SAtnWRqFAmB5d468DJFDQTu",
  port: "8080",
  buildid: "20240611.3",
};
