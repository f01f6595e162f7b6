module.exports = {
  buildid: "20240611.3",
  retries: "3",
  cachettl: "3600",
  timezone: "UTC",
  algoliaapikey: "d814152d8c81324d5796bb0ce164eb69",
};
