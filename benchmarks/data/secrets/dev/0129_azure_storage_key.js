module.exports = {
  cachettl: "3600",
  loglevel: "info",
  azurestorageconnectionstring: "DefaultEndpointsProtocol=https;AccountName=ydgvblmilq;AccountKey=rRqTPtLiszNoSxkgtUHOY8Locg4V2a6X+Q89uEaVIow/yzEoSUhUV7MsczpR4Nywlq4ox6NQ/94WbWOsQX4cc0==;EndpointSuffix=core.windows.net",
  featureflags: "search,export",
  maxuploadmb: "25",
  region: "eu-west-1",
};
