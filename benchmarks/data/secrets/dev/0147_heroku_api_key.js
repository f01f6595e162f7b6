module.exports = {
  buildid: "20240611.3",
  locale: "en_US",
  host: "0.0.0.0",
  cachettl: "3600",
  herokuapikey: "HRKU-AAXTpjBThJ4e2e5HvN2jI-sYLXID3PrpOUqmORr0XSFrnZfk4AgPBaX0DQ5z",
  bucket: "assets-prod-7421",
};
